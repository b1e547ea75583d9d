"""rlscale.envs"""
