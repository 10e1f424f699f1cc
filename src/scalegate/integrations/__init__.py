"""Training-loop integrations: Hugging Face Trainer, PyTorch Lightning, and a plain hook
(`Gatekeeper.step`) for custom loops. Each imports its framework only when used."""
