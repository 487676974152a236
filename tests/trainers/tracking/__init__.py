"""Tests of trainers.tracking."""
