"""analysis/detection"""
