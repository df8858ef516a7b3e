using Bmm.Cli;

return await CliApp.RunAsync(args);
