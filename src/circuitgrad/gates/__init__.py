"""Primitive gates, one family per module; each gate's forward and rules stand together."""
