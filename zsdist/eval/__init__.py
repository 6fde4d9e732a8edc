"""Evaluation: metrics per task and the plots that go with them."""
