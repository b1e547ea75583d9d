"""rlscale.sim"""
