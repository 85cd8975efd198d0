"""Deployments: plans, rollouts, their analysis and the targets they run on."""
