// The HTTP module: a small Swift type over libmicrohttpd (see issue 5).
