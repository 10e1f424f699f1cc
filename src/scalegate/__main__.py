from scalegate.cli import main

main()
