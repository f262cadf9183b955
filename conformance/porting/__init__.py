"""Moving an LSTM between frameworks and implementations: weight conversion with its proof, the weight-file formats, and test vectors."""
