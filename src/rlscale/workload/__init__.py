"""rlscale.workload"""
