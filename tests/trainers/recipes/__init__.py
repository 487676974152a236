"""Tests of trainers.recipes."""
