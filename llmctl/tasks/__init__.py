"""classify, summarize and ner: written once over the provider interface, one record at a time."""
