"""Tests of trainers.models."""
