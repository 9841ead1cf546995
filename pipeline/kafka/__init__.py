"""Kafka plumbing for the worker and the tools: connection options, topics, the embedded broker."""
