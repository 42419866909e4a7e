"""nianbao: reads 政府信息公开工作年度报告 into checked, reviewable data."""

__version__ = "0.1.0"
