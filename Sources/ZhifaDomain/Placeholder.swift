enum _PlaceholderZhifaDomain {}
