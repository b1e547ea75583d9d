"""rlscale.nets"""
