"""The sitebuilder app: pages/ served live by one view and rendered to static files by `build`."""
