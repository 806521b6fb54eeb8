"""crpo.routing"""
