"""rlscale.policies"""
