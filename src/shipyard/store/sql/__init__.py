"""The metadata stores written once in SQL, over any ``Database`` (SQLite, PostgreSQL).

``SqlMetadataStore``, ``SqlRunStore``, ``SqlDeployStore``, ``SqlAlertStore`` and
``SqlTokenStore`` each take the same ``Database`` and share its transactions, so a
change in one store and its event in another commit together.
"""
