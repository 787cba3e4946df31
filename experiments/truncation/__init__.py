"""The truncation study: does an LSTM tolerate longer truncated BPTT than an RNN?"""
