"""analysis/rca"""
