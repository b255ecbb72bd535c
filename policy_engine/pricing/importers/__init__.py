"""Reading the providers' own price files into the catalog schema (``policy-engine prices import``)."""
