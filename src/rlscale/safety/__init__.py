"""rlscale.safety"""
