"""`edgebert demo`: serve the web demo app and a bundle to a phone's browser."""
