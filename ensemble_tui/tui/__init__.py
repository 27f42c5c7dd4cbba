"""The Textual screen: one app over one coordinator (see `app.make_app`)."""
