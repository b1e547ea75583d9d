"""rlscale.agents"""
