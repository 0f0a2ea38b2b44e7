"""Inference engines behind the `InferenceEngine` protocol (see asearcher.api.engine)."""
