"""Helpers the tests share (not fixtures: plain functions and classes imported where used)."""
