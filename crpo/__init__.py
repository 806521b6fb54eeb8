"""crpo"""
