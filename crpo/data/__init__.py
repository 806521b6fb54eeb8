"""crpo.data"""
