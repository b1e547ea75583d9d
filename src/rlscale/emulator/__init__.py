"""rlscale.emulator"""
