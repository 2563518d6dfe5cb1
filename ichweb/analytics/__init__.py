"""Dashboards for team leads: kappa, ROC, sensitivity/specificity, localisation, progress."""
