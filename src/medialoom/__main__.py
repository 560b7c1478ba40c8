from medialoom.cli import app

app()
