"""rlscale.evaluation"""
