"""``python -m tipline``: the command line (``tipline``), for a process started with this interpreter."""

if __name__ == "__main__":  # only when run: tools that import every module (route and import checks) pass by
    from tipline.cli.main import main

    main()
