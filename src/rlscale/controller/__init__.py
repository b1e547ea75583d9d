"""rlscale.controller"""
