"""rlscale.forecast"""
