"""Validation: k-fold cross-validation, holdout scores for candidate and champion, quality gates."""
