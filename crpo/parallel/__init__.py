"""crpo.parallel"""
