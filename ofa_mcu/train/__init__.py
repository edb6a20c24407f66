"""Training the supernet once: progressive shrinking with distillation (see trainer.py)."""
