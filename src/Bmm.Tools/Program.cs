using Bmm.Cli;

return await ToolsApp.RunAsync(args);
