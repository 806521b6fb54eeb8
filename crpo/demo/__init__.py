"""crpo.demo"""
