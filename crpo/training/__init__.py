"""crpo.training"""
