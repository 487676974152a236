"""Tests of trainers.harness."""
