"""The floor: settings, the store's wiring, files, identity, credentials, the one error
tree, and Prefect's REST API and private parts. It imports nothing above it (the models,
services, tasks, flows and surfaces stand on it); `.importlinter` holds it to that."""
