"""crpo.rl"""
