-- The MLflow tracking server keeps its runs and registry in a database of its own.
CREATE DATABASE mlflow OWNER digitserve;
