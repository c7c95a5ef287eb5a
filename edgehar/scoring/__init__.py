"""Scoring a bundle: live validation against recordings and the test split, and live-score metrics."""
